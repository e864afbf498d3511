variable "name" {
  description = "Name of the web ACL, for example `aiprime-prod-us-east-1-gateway`."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,100}$", var.name))
    error_message = "name must be 1-100 letters, digits, underscores or hyphens."
  }
}

variable "rate_limit_per_5min" {
  description = "Requests one client IP may send in any 5-minute window before WAF blocks it."
  type        = number
  default     = 2000

  validation {
    condition     = var.rate_limit_per_5min >= 10 && var.rate_limit_per_5min <= 2000000000
    error_message = "rate_limit_per_5min must be between 10 and 2,000,000,000 (AWS WAF limits)."
  }
}

variable "max_body_kib" {
  description = "Largest request body in KiB that the gateway accepts, except on `media_upload_paths`; larger ones are blocked at the edge. Inference requests with retrieved context exceed the managed rule set's 8 KiB, so the managed check only counts and this rule blocks. Behind an ALB, WAF sees only a body's first 8 KiB and blocks any larger body as too big to inspect, so values above 8 take effect only where the inspection limit is raised (CloudFront, API Gateway: up to 64 KiB)."
  type        = number
  default     = 64

  validation {
    condition     = var.max_body_kib >= 8 && var.max_body_kib <= 64
    error_message = "max_body_kib must be 8-64: WAF inspects at most 64 KiB of a body (8 KiB behind an ALB)."
  }
}

variable "media_upload_paths" {
  description = "URI paths of the gateway routes that take media uploads (images, speech clips), as binary bodies or as base64 in JSON, matched exactly. They are exempt from `max_body_kib` and from the common rule set's body rules (which would read the bytes as text); every other rule still applies to them. The gateway bounds their bodies itself (AIPRIME_GATEWAY_MAX_BODY_BYTES). tests/infra checks the default against the gateway's routes."
  type        = list(string)
  default     = ["/v1/predict/media", "/v1/ask/media", "/v1/transcribe", "/v1/search/image"]

  validation {
    condition = (
      length(var.media_upload_paths) <= 9 &&
      length(distinct(var.media_upload_paths)) == length(var.media_upload_paths) &&
      alltrue([for path in var.media_upload_paths : can(regex("^/[A-Za-z0-9._~/-]{0,199}$", path))])
    )
    error_message = "media_upload_paths must be at most 9 distinct URI paths, each starting with / (letters, digits, . _ ~ - /; at most 200 characters), for example /v1/predict/media."
  }
}

variable "associated_resource_arns" {
  description = "ARNs of regional resources to protect (the gateway ALB). Empty when the ALB is created by the AWS Load Balancer Controller, which associates the ACL from the Ingress annotation `alb.ingress.kubernetes.io/wafv2-acl-arn` instead."
  type        = list(string)
  default     = []
}

variable "logs_kms_key_arn" {
  description = "KMS key of the WAF log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days to keep WAF logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
