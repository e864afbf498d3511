variable "name" {
  description = "Name of the IAM role, for example `aiprime-prod-us-east-1-mlflow`."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9+=,.@_-]{1,64}$", var.name))
    error_message = "name must be 1-64 characters of letters, digits and +=,.@_- (IAM role name rules)."
  }
}

variable "oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider (output `oidc_provider_arn` of modules/eks)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be an IAM OIDC provider ARN (arn:aws:iam::<account>:oidc-provider/...)."
  }
}

variable "service_accounts" {
  description = "Kubernetes service accounts allowed to assume the role, as `namespace:name`."
  type        = list(string)

  validation {
    condition     = length(var.service_accounts) > 0 && alltrue([for sa in var.service_accounts : can(regex("^[a-z0-9-]+:[a-z0-9-]+$", sa))])
    error_message = "service_accounts must list at least one `namespace:name`, without wildcards."
  }
}

variable "policy_statements" {
  description = "What the role may do: IAM statements with explicit actions and resources."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
  }))

  validation {
    condition = alltrue([for s in var.policy_statements :
      !contains(s.actions, "*") && !anytrue([for a in s.actions : endswith(a, ":*")])
    ])
    error_message = "policy_statements must name actions explicitly: `*` and `service:*` are not allowed."
  }

  validation {
    condition     = alltrue([for s in var.policy_statements : !contains(s.resources, "*")])
    error_message = "policy_statements must name resources: `*` is not allowed."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
