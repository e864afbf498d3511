output "replication_group_id" {
  description = "ID of the replication group."
  value       = try(aws_elasticache_replication_group.this.id, null)
}

output "primary_endpoint" {
  description = "Host name for writes (connect with TLS: `rediss://`)."
  value       = try(aws_elasticache_replication_group.this.primary_endpoint_address, null)
}

output "reader_endpoint" {
  description = "Host name that spreads reads over the replicas."
  value       = try(aws_elasticache_replication_group.this.reader_endpoint_address, null)
}

output "port" {
  description = "Redis port."
  value       = try(aws_elasticache_replication_group.this.port, null)
}

output "auth_token_secret_arn" {
  description = "Secrets Manager secret holding the AUTH token."
  value       = try(aws_secretsmanager_secret.auth_token.arn, null)
}
