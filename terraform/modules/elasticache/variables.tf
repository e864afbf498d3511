variable "name" {
  description = "Replication group ID, for example `aiprime-prod-us-east-1`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,39}$", var.name)) && !endswith(var.name, "-")
    error_message = "name must be 1-40 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen."
  }
}

variable "engine_version" {
  description = "Redis OSS engine version (major.minor)."
  type        = string
  default     = "7.1"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+$", var.engine_version)) && tonumber(split(".", var.engine_version)[0]) >= 7
    error_message = "engine_version must be Redis 7 or later, written as major.minor (e.g. 7.1)."
  }
}

variable "node_type" {
  description = "Cache node type, for example `cache.r7g.large`."
  type        = string
  default     = "cache.r7g.large"

  validation {
    condition     = startswith(var.node_type, "cache.")
    error_message = "node_type must be an ElastiCache type such as cache.r7g.large."
  }
}

variable "num_cache_clusters" {
  description = "Nodes in the group: one primary plus replicas. Two or more enables automatic failover across zones."
  type        = number
  default     = 2

  validation {
    condition     = var.num_cache_clusters >= 1 && var.num_cache_clusters <= 6
    error_message = "num_cache_clusters must be 1-6."
  }
}

variable "subnet_group_name" {
  description = "ElastiCache subnet group over isolated database subnets (see modules/vpc)."
  type        = string
}

variable "security_group_ids" {
  description = "Security groups of the nodes (see modules/security-groups): port 6379 from the EKS nodes only."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for data at rest, snapshots and the auth-token secret."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "KMS key of the slow-log CloudWatch log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days to keep the slow log."
  type        = number
  default     = 365
}

variable "snapshot_retention_days" {
  description = "Days of daily snapshots. The Feast online store can be rebuilt by materialization, so a few days suffice."
  type        = number
  default     = 7

  validation {
    condition     = var.snapshot_retention_days >= 1 && var.snapshot_retention_days <= 35
    error_message = "snapshot_retention_days must be 1-35."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
