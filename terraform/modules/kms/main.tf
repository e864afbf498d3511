data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_root = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
  usage_actions = [
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
  ]
}

# A key policy always names `Resource = "*"`: inside a key policy "*" means "this key".
# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
data "aws_iam_policy_document" "this" {
  #checkov:skip=CKV_AWS_109:Key policies must grant the account root kms:* on "*" (this key); IAM policies then scope access.
  #checkov:skip=CKV_AWS_111:As above: "*" in a key policy is the key itself, not every resource.
  #checkov:skip=CKV_AWS_356:As above: "*" in a key policy is the key itself, not every resource.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }

  # CloudWatch Logs, only for log groups of this account in this region.
  # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
  dynamic "statement" {
    for_each = var.allow_cloudwatch_logs ? [1] : []
    content {
      sid       = "CloudWatchLogsUseKey"
      actions   = local.usage_actions
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["logs.${data.aws_region.current.region}.amazonaws.com"]
      }

      condition {
        test     = "ArnLike"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:log-group:*"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.user_role_arns) > 0 ? [1] : []
    content {
      sid       = "RolesUseKey"
      actions   = local.usage_actions
      resources = ["*"]

      principals {
        type        = "AWS"
        identifiers = var.user_role_arns
      }
    }
  }

  # EBS and RDS use the key through grants they create on the caller's behalf (for example EC2 Auto Scaling
  # launching encrypted node volumes); only grants for AWS resources are allowed.
  dynamic "statement" {
    for_each = length(var.user_role_arns) > 0 ? [1] : []
    content {
      sid       = "RolesGrantToAwsResources"
      actions   = ["kms:CreateGrant"]
      resources = ["*"]

      principals {
        type        = "AWS"
        identifiers = var.user_role_arns
      }

      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }
    }
  }
}

resource "aws_kms_key" "this" {
  description             = var.description
  deletion_window_in_days = var.deletion_window_in_days
  enable_key_rotation     = true
  multi_region            = var.multi_region
  policy                  = data.aws_iam_policy_document.this.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}
