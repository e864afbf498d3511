resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV2_AWS_62:No consumer needs object events; MLflow, DVC and Terraform read the buckets directly.
  #checkov:skip=CKV_AWS_144:Replication is opt-in through var.replication: prod artifacts and DVC buckets replicate to the secondary region; dev, access-log and state-replica buckets do not need a copy.
  #checkov:skip=CKV_AWS_18:Access logging is set through var.access_log_bucket on every bucket except the access-log bucket itself (logging it into itself would loop).
  #checkov:skip=CKV_AWS_145:SSE-KMS is required by var.kms_key_arn's validation except for the access-log bucket, which S3 server access logging requires to use SSE-S3.
  bucket              = var.bucket
  force_destroy       = var.force_destroy
  object_lock_enabled = var.object_lock != null # only at creation: an existing bucket cannot turn it on here
  tags                = merge(var.tags, { "aiprime.io/purpose" = var.purpose })
}

# Every new object version is locked for `days`; in COMPLIANCE mode no one, the account's root included, can
# delete it or shorten its retention before then. https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html
resource "aws_s3_bucket_object_lock_configuration" "this" {
  count = var.object_lock == null ? 0 : 1

  bucket = aws_s3_bucket.this.id

  rule {
    default_retention {
      mode = var.object_lock.mode
      days = var.object_lock.days
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced" # ACLs off: the bucket policy and IAM decide access
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled" # undo for overwrites and deletes; replication requires it too
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null # one KMS call per bucket key instead of per object
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_logging" "this" {
  count = var.access_log_bucket == null ? 0 : 1

  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_log_bucket
  target_prefix = "${var.bucket}/"
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # Object Lock keeps versions, not keys: a plain PutObject over a locked key adds a version above it. For
  # written-once records, every write must be conditional (If-None-Match: *), so a taken key is never written.
  # https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html
  dynamic "statement" {
    for_each = var.purpose == "audit-heads" ? [1] : []
    content {
      sid       = "DenyOverwrites"
      effect    = "Deny"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.this.arn}/*"]

      principals {
        type        = "*"
        identifiers = ["*"]
      }

      condition {
        test     = "Null"
        variable = "s3:if-none-match"
        values   = ["true"]
      }
    }
  }

  # S3 server access logging delivers through the logging service principal; only this account's buckets.
  dynamic "statement" {
    for_each = var.purpose == "access-logs" ? [1] : []
    content {
      sid       = "AllowServerAccessLogDelivery"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.this.arn}/*"]

      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [data.aws_caller_identity.current.account_id]
      }
    }
  }
}

data "aws_caller_identity" "current" {}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.this.json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
