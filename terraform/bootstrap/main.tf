data "aws_caller_identity" "current" {}

locals {
  bucket = "aiprime-tfstate-${data.aws_caller_identity.current.account_id}"
}

module "kms" {
  source = "../modules/kms"

  alias       = "aiprime-tfstate"
  description = "Terraform state and its lock table"
}

module "kms_replica" {
  source    = "../modules/kms"
  providers = { aws = aws.replica }

  alias       = "aiprime-tfstate"
  description = "Replica of the Terraform state"
}

module "access_logs" {
  source = "../modules/s3"

  bucket  = "${local.bucket}-access-logs"
  purpose = "access-logs"
}

module "access_logs_replica" {
  source    = "../modules/s3"
  providers = { aws = aws.replica }

  bucket  = "${local.bucket}-${var.replica_region}-access-logs"
  purpose = "access-logs"
}

module "state_replica" {
  source    = "../modules/s3"
  providers = { aws = aws.replica }

  bucket            = "${local.bucket}-${var.replica_region}"
  purpose           = "terraform-state"
  kms_key_arn       = module.kms_replica.key_arn
  access_log_bucket = module.access_logs_replica.bucket_id
}

module "state" {
  source = "../modules/s3"

  bucket            = local.bucket
  purpose           = "terraform-state"
  kms_key_arn       = module.kms.key_arn
  access_log_bucket = module.access_logs.bucket_id
  # Old state versions are the undo for a bad apply: keep them a year.
  noncurrent_version_expiration_days = 365

  replication = {
    destination_bucket_arn  = module.state_replica.bucket_arn
    destination_kms_key_arn = module.kms_replica.key_arn
  }
}

# A global table: the lock works from either region, which matters when the primary region is the one down.
resource "aws_dynamodb_table" "lock" {
  name         = "aiprime-tfstate-lock"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "LockID"

  # Global tables need a stream.
  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  attribute {
    name = "LockID"
    type = "S"
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.kms.key_arn
  }

  point_in_time_recovery {
    enabled = true
  }

  replica {
    region_name            = var.replica_region
    kms_key_arn            = module.kms_replica.key_arn
    point_in_time_recovery = true
  }

  deletion_protection_enabled = true
}
