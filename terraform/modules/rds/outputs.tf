output "instance_arn" {
  description = "ARN of the primary instance."
  value       = try(aws_db_instance.this.arn, null)
}

output "instance_identifier" {
  description = "Identifier of the primary instance."
  value       = try(aws_db_instance.this.identifier, null)
}

output "endpoint" {
  description = "Host name of the primary (writes go here)."
  value       = try(aws_db_instance.this.address, null)
}

output "port" {
  description = "PostgreSQL port."
  value       = try(aws_db_instance.this.port, null)
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret holding the generated master password (synced into the cluster by External Secrets)."
  value       = try(aws_db_instance.this.master_user_secret[0].secret_arn, null)
}

output "replica_arn" {
  description = "ARN of the cross-region read replica, or null without one."
  value       = try(aws_db_instance.replica[0].arn, null)
}

output "replica_endpoint" {
  description = "Host name of the cross-region read replica, or null without one."
  value       = try(aws_db_instance.replica[0].address, null)
}
