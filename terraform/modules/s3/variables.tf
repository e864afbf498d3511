variable "bucket" {
  description = "Globally unique bucket name, for example `aiprime-prod-us-east-1-artifacts-123456789012`."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket)) && !can(regex("\\.\\.", var.bucket))
    error_message = "bucket must be 3-63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit."
  }
}

variable "purpose" {
  description = "What the bucket holds; becomes the `aiprime.io/purpose` tag."
  type        = string

  validation {
    condition     = contains(["artifacts", "dvc", "terraform-state", "access-logs", "audit-heads"], var.purpose)
    error_message = "purpose must be one of artifacts, dvc, terraform-state, access-logs, audit-heads."
  }
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS. Null only for an access-log bucket: S3 server access logging can only write to SSE-S3 buckets."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn != null || var.purpose == "access-logs"
    error_message = "kms_key_arn is required unless purpose is access-logs."
  }
}

variable "access_log_bucket" {
  description = "Bucket that receives this bucket's server access logs (null for the access-log bucket itself)."
  type        = string
  default     = null
}

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten or deleted object version is kept before it expires; the window for undoing a bad write."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 7
    error_message = "noncurrent_version_expiration_days must be at least 7."
  }
}

variable "replication" {
  description = <<-EOT
    Cross-region replication of every object to a versioned bucket in another region, for disaster recovery.
    The destination bucket and its KMS key are created by the other region's stack. Null: no replication.
  EOT
  type = object({
    destination_bucket_arn  = string
    destination_kms_key_arn = string
    storage_class           = optional(string, "STANDARD")
  })
  default = null

  validation {
    condition     = var.replication == null || var.kms_key_arn != null
    error_message = "replication needs kms_key_arn: only SSE-KMS buckets are replicated."
  }
}

variable "object_lock" {
  description = <<-EOT
    S3 Object Lock with a default retention for every new object version: `mode` COMPLIANCE (no one can
    delete a version or shorten its retention, for records that must outlive an attacker with admin rights)
    or GOVERNANCE (those with s3:BypassGovernanceRetention can), for `days`. Set only when the bucket is
    created. Null: no lock.
  EOT
  type = object({
    mode = optional(string, "COMPLIANCE")
    days = number
  })
  default = null

  validation {
    condition     = var.object_lock == null || try(contains(["COMPLIANCE", "GOVERNANCE"], var.object_lock.mode) && var.object_lock.days >= 1, false)
    error_message = "object_lock.mode must be COMPLIANCE or GOVERNANCE and object_lock.days at least 1."
  }

  validation {
    condition     = var.object_lock == null || !var.force_destroy
    error_message = "object_lock and force_destroy exclude each other: locked versions cannot be deleted until their retention ends."
  }
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete a non-empty bucket. Only for throwaway dev buckets."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
