terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }

  # Local state on purpose: this stack creates the S3 bucket and lock table that every other stack keeps its
  # state in. Keep terraform.tfstate out of git (.gitignore) and in the team's password store after apply.
}

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "replica"
  region = var.replica_region

  default_tags {
    tags = var.tags
  }
}
