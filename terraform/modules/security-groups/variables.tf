variable "name" {
  description = "Name of the security group, for example `aiprime-prod-us-east-1-rds`."
  type        = string
}

variable "description" {
  description = "What the group protects; AWS shows it in every console listing."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the group."
  type        = string
}

variable "ingress" {
  description = "Allowed inbound traffic. Each rule names one port range and exactly one source: a security group (preferred) or a CIDR."
  type = list(object({
    description              = string
    from_port                = number
    to_port                  = optional(number)
    protocol                 = optional(string, "tcp")
    source_security_group_id = optional(string)
    cidr_ipv4                = optional(string)
  }))
  default = []

  validation {
    condition     = alltrue([for r in var.ingress : (r.source_security_group_id == null) != (r.cidr_ipv4 == null)])
    error_message = "Each ingress rule needs exactly one of source_security_group_id or cidr_ipv4."
  }

  validation {
    condition     = alltrue([for r in var.ingress : r.cidr_ipv4 != "0.0.0.0/0"])
    error_message = "Ingress from 0.0.0.0/0 is not allowed here; the internet reaches AI Prime only through the ALB and WAF."
  }

  validation {
    condition     = alltrue([for r in var.ingress : r.protocol != "-1"])
    error_message = "Ingress rules must name a protocol and ports; `-1` (all traffic) is not allowed."
  }
}

variable "egress" {
  description = "Allowed outbound traffic, same shape as `ingress` with `destination_*`. Empty: the group allows no egress (right for RDS and Redis, which only answer)."
  type = list(object({
    description                   = string
    from_port                     = number
    to_port                       = optional(number)
    protocol                      = optional(string, "tcp")
    destination_security_group_id = optional(string)
    cidr_ipv4                     = optional(string)
  }))
  default = []

  validation {
    condition     = alltrue([for r in var.egress : (r.destination_security_group_id == null) != (r.cidr_ipv4 == null)])
    error_message = "Each egress rule needs exactly one of destination_security_group_id or cidr_ipv4."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
