# Root Terragrunt configuration, included by every terraform/envs/<env>/<region>/terragrunt.hcl.
# It keeps the state backend in one place and passes the environment's shared inputs (env.hcl).
# Run Terragrunt from a region folder (`cd envs/prod/us-east-1 && terragrunt plan`), not from here.

locals {
  env = read_terragrunt_config(find_in_parent_folders("env.hcl"))

  # One state bucket and lock table for every stack, created by terraform/bootstrap. During a us-east-1
  # outage, point Terragrunt at the eu-west-1 replica of the bucket (docs/runbook.md, "Region failover").
  state_region = get_env("AIPRIME_TFSTATE_REGION", "us-east-1")
  state_bucket = get_env("AIPRIME_TFSTATE_BUCKET", "aiprime-tfstate-${get_aws_account_id()}")
}

# The stacks declare `backend "s3" {}` (backend.tf); Terragrunt fills it in with `-backend-config`.
# DynamoDB still holds the lock: S3-native locking (`use_lockfile`) can replace it once every operator runs
# Terraform 1.11 or later.
remote_state {
  backend = "s3"
  config = {
    bucket         = local.state_bucket
    key            = "${path_relative_to_include()}/terraform.tfstate"
    region         = local.state_region
    encrypt        = true
    kms_key_id     = "alias/aiprime-tfstate"
    dynamodb_table = "aiprime-tfstate-lock"
    # terraform/bootstrap owns the bucket's settings (KMS, replication, logging); Terragrunt must not edit them.
    disable_bucket_update = true
  }
}

inputs = merge(local.env.locals, {
  tags = {
    "aiprime.io/environment" = local.env.locals.environment
    "aiprime.io/managed-by"  = "terraform"
    "aiprime.io/stack"       = path_relative_to_include()
  }
})
