output "role_arn" {
  description = "ARN of the role; annotate the service account with `eks.amazonaws.com/role-arn: <this>`."
  value       = try(aws_iam_role.this.arn, null)
}

output "role_name" {
  description = "Name of the role."
  value       = try(aws_iam_role.this.name, null)
}
