variable "zone_id" {
  description = "ID of the existing public hosted zone (for example for `aiprime.example.com`)."
  type        = string
}

variable "region" {
  description = "Region this stack serves; the set identifier of its records and the latency region."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
  }
}

variable "record_name" {
  description = "Latency-routed name for inference traffic, for example `api.aiprime.example.com`. Each region adds its own record; clients reach the nearest healthy one."
  type        = string
}

variable "load_balancer" {
  description = "The regional gateway ALB (from `kubectl get ingress gateway` or `aws elbv2 describe-load-balancers`)."
  type = object({
    dns_name = string
    zone_id  = string
  })
}

variable "health_check_path" {
  description = "Path Route 53 probes over HTTPS; it must answer 200 only when the region can serve (the gateway's readiness)."
  type        = string
  default     = "/healthz"

  validation {
    condition     = startswith(var.health_check_path, "/")
    error_message = "health_check_path must start with `/`."
  }
}

variable "failover" {
  description = <<-EOT
    Failover-routed name for traffic that must reach the region holding the writable database (MLflow,
    Dagster UIs, writes), with this region's role. Null: no failover record.
  EOT
  type = object({
    record_name = string
    role        = string
  })
  default = null

  validation {
    condition     = var.failover == null || contains(["PRIMARY", "SECONDARY"], try(var.failover.role, ""))
    error_message = "failover.role must be PRIMARY or SECONDARY."
  }
}

variable "tags" {
  description = "Tags added to the health check."
  type        = map(string)
  default     = {}
}
