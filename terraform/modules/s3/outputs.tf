output "bucket_id" {
  description = "Name of the bucket."
  value       = try(aws_s3_bucket.this.id, null)
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = try(aws_s3_bucket.this.arn, null)
}

output "bucket_regional_domain_name" {
  description = "Regional domain name of the bucket."
  value       = try(aws_s3_bucket.this.bucket_regional_domain_name, null)
}

output "replication_role_arn" {
  description = "IAM role S3 uses to replicate, or null without replication."
  value       = try(aws_iam_role.replication[0].arn, null)
}
