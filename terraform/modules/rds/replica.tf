# Cross-region read replica: asynchronous copy in the second region, promoted by hand during a region
# failover (docs/runbook.md). Parameter groups are regional, so the replica gets its own copy.

resource "aws_db_parameter_group" "replica" {
  count    = var.replica == null ? 0 : 1
  provider = aws.replica

  name_prefix = "${var.identifier}-replica-"
  family      = "postgres${local.major_version}"
  description = "PostgreSQL ${local.major_version} for the replica of ${var.identifier}"

  dynamic "parameter" {
    for_each = local.parameters
    content {
      name         = parameter.value.name
      value        = parameter.value.value
      apply_method = parameter.value.apply_method
    }
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "replica" {
  count    = var.replica == null ? 0 : 1
  provider = aws.replica

  identifier          = "${var.identifier}-replica"
  replicate_source_db = aws_db_instance.this.arn # an ARN, because the source is in another region
  instance_class      = coalesce(var.replica.instance_class, var.instance_class)

  storage_encrypted                   = true
  kms_key_id                          = var.replica.kms_key_arn
  iam_database_authentication_enabled = true
  max_allocated_storage               = var.max_allocated_storage_gib

  db_subnet_group_name   = var.replica.db_subnet_group_name
  vpc_security_group_ids = var.replica.vpc_security_group_ids
  publicly_accessible    = false
  multi_az               = var.replica.multi_az
  parameter_group_name   = aws_db_parameter_group.replica[0].name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  # Backups on the replica, so that once promoted it is protected from its first minute.
  backup_retention_period = var.backup_retention_days
  copy_tags_to_snapshot   = true
  deletion_protection     = var.deletion_protection
  # RDS refuses a final snapshot when deleting a read replica; its data lives on in the primary.
  skip_final_snapshot = true

  auto_minor_version_upgrade      = true
  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]
  performance_insights_enabled    = true
  performance_insights_kms_key_id = var.replica.kms_key_arn
  monitoring_interval             = var.monitoring_interval
  monitoring_role_arn             = var.monitoring_interval > 0 ? aws_iam_role.monitoring.arn : null

  tags = var.tags

  # After promotion the replica has no source; re-applying must not try to turn it back into a replica.
  lifecycle {
    ignore_changes = [replicate_source_db]
  }
}
