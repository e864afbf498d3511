variable "name" {
  description = "Name prefix of every resource, for example `aiprime-prod-us-east-1`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.name))
    error_message = "name must be 3-41 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "cidr" {
  description = "IPv4 CIDR block of the VPC, for example `10.10.0.0/16`."
  type        = string

  validation {
    condition     = can(cidrhost(var.cidr, 0))
    error_message = "cidr must be a valid IPv4 CIDR block such as 10.10.0.0/16."
  }
}

variable "azs" {
  description = "Availability zones, one subnet of each tier per zone. EKS and Multi-AZ RDS need at least two."
  type        = list(string)

  validation {
    condition     = length(var.azs) >= 2
    error_message = "azs needs at least two availability zones (EKS control plane and Multi-AZ RDS require them)."
  }
}

variable "public_subnets" {
  description = "CIDRs of the public subnets (load balancers and NAT gateways only), one per zone in `azs` order."
  type        = list(string)

  validation {
    condition     = length(var.public_subnets) == length(var.azs) && alltrue([for c in var.public_subnets : can(cidrhost(c, 0))])
    error_message = "public_subnets must hold one valid CIDR per entry of azs."
  }
}

variable "private_subnets" {
  description = "CIDRs of the private subnets (EKS nodes and pods), one per zone in `azs` order."
  type        = list(string)

  validation {
    condition     = length(var.private_subnets) == length(var.azs) && alltrue([for c in var.private_subnets : can(cidrhost(c, 0))])
    error_message = "private_subnets must hold one valid CIDR per entry of azs."
  }
}

variable "database_subnets" {
  description = "CIDRs of the isolated subnets for RDS and ElastiCache (no route to the internet), one per zone in `azs` order."
  type        = list(string)

  validation {
    condition     = length(var.database_subnets) == length(var.azs) && alltrue([for c in var.database_subnets : can(cidrhost(c, 0))])
    error_message = "database_subnets must hold one valid CIDR per entry of azs."
  }
}

variable "single_nat_gateway" {
  description = "Use one NAT gateway for all zones (cheaper, for dev) instead of one per zone (survives a zone outage, for prod)."
  type        = bool
  default     = false
}

variable "flow_logs" {
  description = "VPC flow logs to CloudWatch: the KMS key that encrypts the log group and how long to keep it."
  type = object({
    kms_key_arn    = string
    retention_days = optional(number, 365)
    traffic_type   = optional(string, "ALL")
  })

  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_logs.traffic_type)
    error_message = "flow_logs.traffic_type must be ACCEPT, REJECT or ALL."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
