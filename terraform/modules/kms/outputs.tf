output "key_arn" {
  description = "ARN of the key; pass it to resources as `kms_key_id`/`kms_key_arn`."
  value       = try(aws_kms_key.this.arn, null)
}

output "key_id" {
  description = "ID of the key."
  value       = try(aws_kms_key.this.key_id, null)
}

output "alias_arn" {
  description = "ARN of the alias."
  value       = try(aws_kms_alias.this.arn, null)
}
