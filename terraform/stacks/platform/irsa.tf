# What each workload's service account may do in AWS; nothing else in the cluster gets AWS credentials.

locals {
  artifacts_arn = module.s3["artifacts"].bucket_arn
  dvc_arn       = module.s3["dvc"].bucket_arn
  data_key_arn  = module.kms["data"].key_arn
  heads_arn     = module.s3_audit_heads.bucket_arn

  use_data_key = { sid = "UseDataKey", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [local.data_key_arn] }

  irsa_roles = {
    # MLflow serves artifacts (--serve-artifacts), so only it writes the artifacts bucket.
    mlflow = [
      { sid = "ListArtifacts", actions = ["s3:ListBucket"], resources = [local.artifacts_arn] },
      { sid = "ReadWriteArtifacts", actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources = ["${local.artifacts_arn}/*"] },
      local.use_data_key,
    ]
    # Model servers load weights; read-only.
    kserve-predictor = [
      { sid = "ListArtifacts", actions = ["s3:ListBucket"], resources = [local.artifacts_arn] },
      { sid = "ReadArtifacts", actions = ["s3:GetObject"], resources = ["${local.artifacts_arn}/*"] },
      { sid = "DecryptDataKey", actions = ["kms:Decrypt"], resources = [local.data_key_arn] },
    ]
    # Dagster run pods pull and push DVC data and log to MLflow (through MLflow, not S3, for artifacts).
    dagster-run = [
      { sid = "ListDvc", actions = ["s3:ListBucket"], resources = [local.dvc_arn] },
      { sid = "ReadWriteDvc", actions = ["s3:GetObject", "s3:PutObject"], resources = ["${local.dvc_arn}/*"] },
      local.use_data_key,
    ]
    # The gateway appends audit heads and reads them back: no delete, and the bucket policy refuses overwrites.
    # Versions are listed and read because a head is read from its key's first (locked) version.
    gateway = [
      { sid = "ListAuditHeads", actions = ["s3:ListBucket", "s3:ListBucketVersions"], resources = [local.heads_arn] },
      { sid = "AppendAuditHeads", actions = ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion"], resources = ["${local.heads_arn}/audit-heads/*"] },
      local.use_data_key,
    ]
  }
}
