variable "region" {
  description = "Region of the state bucket and lock table; terraform/terragrunt.hcl reads state from here."
  type        = string
  default     = "us-east-1"
}

variable "replica_region" {
  description = "Region that holds a replica of the state and of the lock table, so stacks stay manageable during an outage of `region`."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = var.replica_region != var.region
    error_message = "replica_region must differ from region."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = { "aiprime.io/managed-by" = "terraform", "aiprime.io/stack" = "bootstrap" }
}
