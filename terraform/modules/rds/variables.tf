variable "identifier" {
  description = "RDS instance identifier, for example `aiprime-prod-us-east-1`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", var.identifier)) && length(var.identifier) <= 55
    error_message = "identifier must be lowercase letters, digits and single hyphens, start with a letter, and be at most 55 characters (room for suffixes)."
  }
}

variable "engine_version" {
  description = "PostgreSQL version, major only (`17`, minor upgrades are automatic) or major.minor. 16 or later: pgvector's HNSW index and the project's migrations need it."
  type        = string
  default     = "17"

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)?$", var.engine_version)) && tonumber(split(".", var.engine_version)[0]) >= 16
    error_message = "engine_version must be PostgreSQL 16 or later, written as `17` or `17.5`."
  }
}

variable "instance_class" {
  description = "Instance class of the primary, for example `db.r7g.large`."
  type        = string
  default     = "db.r7g.large"

  validation {
    condition     = startswith(var.instance_class, "db.")
    error_message = "instance_class must be an RDS class such as db.r7g.large."
  }
}

variable "allocated_storage_gib" {
  description = "Initial gp3 storage in GiB."
  type        = number
  default     = 100

  validation {
    condition     = var.allocated_storage_gib >= 20
    error_message = "allocated_storage_gib must be at least 20 (the RDS minimum for gp3)."
  }
}

variable "max_allocated_storage_gib" {
  description = "Ceiling for storage autoscaling in GiB; embeddings grow with the corpus."
  type        = number
  default     = 1000

  validation {
    condition     = var.max_allocated_storage_gib >= var.allocated_storage_gib
    error_message = "max_allocated_storage_gib must be at least allocated_storage_gib."
  }
}

variable "db_name" {
  description = "Database created at launch. MLflow, Dagster and Feast get their own databases, each owned by its own login role (aiprime_mlflow, aiprime_dagster, aiprime_feast), created by the platform on its first start (aiprime.db.roles, docs/hardening.md)."
  type        = string
  default     = "aiprime"
}

variable "username" {
  description = "Master user name. Its password is generated and rotated by RDS in Secrets Manager, never stored in state."
  type        = string
  default     = "aiprime_admin"

  validation {
    condition     = !contains(["postgres", "admin", "rdsadmin"], var.username)
    error_message = "username must not be a well-known or reserved name (postgres, admin, rdsadmin)."
  }
}

variable "db_subnet_group_name" {
  description = "Subnet group over isolated database subnets (see modules/vpc)."
  type        = string
}

variable "vpc_security_group_ids" {
  description = "Security groups of the instance (see modules/security-groups): port 5432 from the EKS nodes only."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights and the master-user secret."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "KMS key of the CloudWatch log groups that receive PostgreSQL logs."
  type        = string
}

variable "log_retention_days" {
  description = "Days to keep PostgreSQL logs in CloudWatch."
  type        = number
  default     = 365
}

variable "multi_az" {
  description = "Keep a synchronous standby in a second zone; failover takes about a minute. Off only for dev."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be 7-35: fewer than 7 leaves no time to notice a bad migration."
  }
}

variable "deletion_protection" {
  description = "Refuse `terraform destroy` and console deletes until this is turned off."
  type        = bool
  default     = true
}

variable "monitoring_interval" {
  description = "Seconds between Enhanced Monitoring samples (0 turns it off)."
  type        = number
  default     = 60

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

variable "replica" {
  description = <<-EOT
    Cross-region read replica created through the `aws.replica` provider, for disaster recovery and local
    reads in the second region. Its subnet group, security groups and KMS key live in that region (the
    second region's stack creates them). Null: no replica.
  EOT
  type = object({
    kms_key_arn            = string
    db_subnet_group_name   = string
    vpc_security_group_ids = list(string)
    instance_class         = optional(string)
    multi_az               = optional(bool, true)
  })
  default = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
