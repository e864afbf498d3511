output "state_bucket" {
  description = "State bucket; terraform/terragrunt.hcl derives the same name from the account ID."
  value       = module.state.bucket_id
}

output "state_replica_bucket" {
  description = "Replica of the state bucket; set AIPRIME_TFSTATE_BUCKET to it (and AIPRIME_TFSTATE_REGION) during a primary-region outage."
  value       = module.state_replica.bucket_id
}

output "lock_table" {
  description = "DynamoDB lock table (a global table replicated to replica_region)."
  value       = aws_dynamodb_table.lock.name
}
