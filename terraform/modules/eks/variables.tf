variable "name" {
  description = "Name of the EKS cluster, for example `aiprime-prod-us-east-1`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.name))
    error_message = "name must be 3-41 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane, for example `1.33`. KServe needs 1.32 or later."
  type        = string
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.(3[2-9]|[4-9][0-9])$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.33 and be 1.32 or later (KServe's minimum)."
  }
}

variable "vpc_id" {
  description = "VPC the cluster runs in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the control plane ENIs and the nodes; at least two zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids needs subnets in at least two availability zones."
  }
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the Kubernetes API from the internet. Empty (the default) keeps the endpoint private: reach it from the VPC or a VPN."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "public_access_cidrs must be valid CIDRs, and 0.0.0.0/0 is not allowed: name the office or CI ranges."
  }
}

variable "secrets_kms_key_arn" {
  description = "KMS key that envelope-encrypts Kubernetes Secrets in etcd."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "KMS key of the control-plane log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days to keep control-plane logs (API, audit, authenticator)."
  type        = number
  default     = 365
}

variable "admin_role_arns" {
  description = "IAM roles granted cluster-admin through EKS access entries (the CI deploy role, the on-call role)."
  type        = list(string)
  default     = []
}

variable "node_groups" {
  description = <<-EOT
    Managed node groups by name. AI Prime uses two: `cpu` for the gateway, Dagster, MLflow, Feast and the
    experts, and `gpu` for the generator (tainted so that only pods that tolerate it land there).
  EOT
  type = map(object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
    capacity_type  = optional(string, "ON_DEMAND")
    ami_type       = optional(string, "AL2023_x86_64_STANDARD")
    disk_size_gib  = optional(number, 100)
    labels         = optional(map(string), {})
    taints = optional(list(object({
      key    = string
      value  = optional(string)
      effect = string
    })), [])
  }))

  validation {
    condition     = alltrue([for g in values(var.node_groups) : g.min_size <= g.desired_size && g.desired_size <= g.max_size])
    error_message = "Each node group needs min_size <= desired_size <= max_size."
  }

  validation {
    condition     = alltrue([for g in values(var.node_groups) : contains(["ON_DEMAND", "SPOT"], g.capacity_type)])
    error_message = "capacity_type must be ON_DEMAND or SPOT."
  }

  validation {
    condition = alltrue(flatten([for g in values(var.node_groups) : [
      for t in g.taints : contains(["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"], t.effect)
    ]]))
    error_message = "Taint effects must be NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE (the EKS API spelling)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
