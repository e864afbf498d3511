variable "alias" {
  description = "Key alias without the `alias/` prefix, for example `aiprime-prod-us-east-1-data`."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,250}$", var.alias)) && !startswith(var.alias, "aws/")
    error_message = "alias must be 1-250 characters of [a-zA-Z0-9/_-] and must not start with `aws/` (reserved by AWS)."
  }
}

variable "description" {
  description = "What the key protects; shown in the KMS console."
  type        = string
}

variable "deletion_window_in_days" {
  description = "Days a scheduled deletion waits before the key is destroyed; the window is the only undo."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30 (AWS limits)."
  }
}

variable "multi_region" {
  description = "Create a multi-Region primary key, so that a replica key in another region can decrypt the same data."
  type        = bool
  default     = false
}

variable "allow_cloudwatch_logs" {
  description = "Let CloudWatch Logs in this region encrypt and decrypt log groups of this account with the key."
  type        = bool
  default     = false
}

variable "user_role_arns" {
  description = "IAM role ARNs that may encrypt, decrypt and grant the key to AWS services (IRSA roles that read S3 objects; the EC2 Auto Scaling service-linked role that launches encrypted node volumes)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
