terraform {
  required_version = ">= 1.9.0" # validation blocks below compare variables with each other

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
    tls = {
      source  = "hashicorp/tls"
      version = ">= 4.0, < 5.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.6, < 4.0"
    }
  }

  # Filled in by Terragrunt (remote_state in terraform/terragrunt.hcl), one state key per region folder.
  # Without Terragrunt:
  #   terraform init -backend-config=bucket=aiprime-tfstate-<account> -backend-config=key=envs/<env>/<region>/terraform.tfstate \
  #     -backend-config=region=us-east-1 -backend-config=dynamodb_table=aiprime-tfstate-lock -backend-config=encrypt=true
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

# The secondary region, for what a primary owns there: the database's cross-region read replica. The rds
# module always needs an `aws.replica` provider; without a secondary this one points at this region and
# nothing uses it.
provider "aws" {
  alias  = "secondary"
  region = try(var.secondary.region, var.region)

  default_tags {
    tags = var.tags
  }
}
