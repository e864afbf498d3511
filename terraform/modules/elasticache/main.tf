locals {
  failover = var.num_cache_clusters > 1
}

# Redis AUTH on top of TLS: a pod that reaches port 6379 still needs the token, which lives only in Secrets
# Manager and in the cluster Secret that External Secrets syncs from it.
resource "random_password" "auth_token" {
  length           = 64
  special          = true
  override_special = "!&#$^<>-" # the only symbols ElastiCache accepts in an auth token
}

resource "aws_secretsmanager_secret" "auth_token" {
  #checkov:skip=CKV2_AWS_57:Rotating a Redis AUTH token needs a ROTATE-then-SET change on the group (auth_token_update_strategy); done by re-applying with a new random_password, not by a Lambda.
  name_prefix = "${var.name}-redis-auth-"
  description = "AUTH token of the ${var.name} Redis replication group"
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "auth_token" {
  secret_id     = aws_secretsmanager_secret.auth_token.id
  secret_string = random_password.auth_token.result
}

resource "aws_elasticache_parameter_group" "this" {
  name   = var.name
  family = "redis${split(".", var.engine_version)[0]}"

  # The Feast online store and the gateway's cache are caches: evict least-recently-used keys instead of
  # failing writes when memory is full.
  parameter {
    name  = "maxmemory-policy"
    value = "allkeys-lru"
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/elasticache/${var.name}/slow-log"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id = var.name
  description          = "AI Prime cache and Feast online store (${var.name})"
  engine               = "redis"
  engine_version       = var.engine_version
  node_type            = var.node_type
  num_cache_clusters   = var.num_cache_clusters
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.this.name

  subnet_group_name  = var.subnet_group_name
  security_group_ids = var.security_group_ids

  automatic_failover_enabled = local.failover
  multi_az_enabled           = local.failover

  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn
  transit_encryption_enabled = true
  auth_token                 = random_password.auth_token.result

  snapshot_retention_limit   = var.snapshot_retention_days
  snapshot_window            = "02:00-03:00"
  maintenance_window         = "sun:05:30-sun:06:30"
  auto_minor_version_upgrade = true
  apply_immediately          = false

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.this.name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }

  tags = var.tags
}
