terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
      # `aws.replica` is the region of the cross-region read replica. Callers without a replica pass their
      # default provider: `providers = { aws = aws, aws.replica = aws }`.
      configuration_aliases = [aws.replica]
    }
  }
}
