locals {
  major_version = split(".", var.engine_version)[0]

  # Applied to the primary and the replica alike, so a promoted replica behaves as the primary did.
  parameters = [
    # Clients must use TLS.
    { name = "rds.force_ssl", value = "1", apply_method = "immediate" },
    # Query logging: slow statements and every schema change.
    { name = "log_min_duration_statement", value = "1000", apply_method = "immediate" },
    { name = "log_statement", value = "ddl", apply_method = "immediate" },
    { name = "log_connections", value = "1", apply_method = "immediate" },
    { name = "shared_preload_libraries", value = "pg_stat_statements", apply_method = "pending-reboot" },
    # pgvector's HNSW build is bound by maintenance_work_mem (measured ~4x faster with 2 GB than the default,
    # see RESOURCES.md). RDS's formula is in KB: 1/16 of the instance memory.
    { name = "maintenance_work_mem", value = "{DBInstanceClassMemory/16384}", apply_method = "immediate" },
  ]
  # pgvector needs no preload: it ships with RDS PostgreSQL 16+ and the project's migrations run
  # `CREATE EXTENSION IF NOT EXISTS vector` in each database that stores embeddings.
}

resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.identifier}-"
  family      = "postgres${local.major_version}"
  description = "PostgreSQL ${local.major_version} for ${var.identifier}: TLS, query logging, pgvector build memory"

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

# Exists before the instance so that our retention and KMS key apply to the exported logs.
resource "aws_cloudwatch_log_group" "this" {
  for_each = toset(["postgresql", "upgrade"])

  name              = "/aws/rds/instance/${var.identifier}/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

resource "aws_db_instance" "this" {
  identifier     = var.identifier
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  db_name        = var.db_name
  username       = var.username

  # RDS generates the password, keeps it in Secrets Manager under our key and rotates it.
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = var.kms_key_arn
  iam_database_authentication_enabled = true

  allocated_storage     = var.allocated_storage_gib
  max_allocated_storage = var.max_allocated_storage_gib
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  db_subnet_group_name   = var.db_subnet_group_name
  vpc_security_group_ids = var.vpc_security_group_ids
  publicly_accessible    = false
  multi_az               = var.multi_az
  parameter_group_name   = aws_db_parameter_group.this.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  backup_retention_period   = var.backup_retention_days
  backup_window             = "03:00-04:00"
  maintenance_window        = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.identifier}-final"

  auto_minor_version_upgrade      = true
  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]
  performance_insights_enabled    = true
  performance_insights_kms_key_id = var.kms_key_arn
  monitoring_interval             = var.monitoring_interval
  monitoring_role_arn             = var.monitoring_interval > 0 ? aws_iam_role.monitoring.arn : null

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.this]
}

data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

# IAM is global: the replica in the other region uses the same monitoring role.
resource "aws_iam_role" "monitoring" {
  name_prefix        = "${substr(var.identifier, 0, 22)}-rds-monitoring-" # at most 38 characters
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}
