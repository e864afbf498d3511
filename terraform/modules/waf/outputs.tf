output "web_acl_arn" {
  description = "ARN of the web ACL; set it as `alb.ingress.kubernetes.io/wafv2-acl-arn` on the gateway Ingress."
  value       = try(aws_wafv2_web_acl.this.arn, null)
}

output "web_acl_id" {
  description = "ID of the web ACL."
  value       = try(aws_wafv2_web_acl.this.id, null)
}

output "log_group_name" {
  description = "CloudWatch log group of the WAF logs."
  value       = try(aws_cloudwatch_log_group.this.name, null)
}
