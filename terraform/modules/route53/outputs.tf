output "health_check_id" {
  description = "ID of the regional health check (alarm on its CloudWatch metric `HealthCheckStatus`)."
  value       = try(aws_route53_health_check.this.id, null)
}

output "latency_record_fqdn" {
  description = "FQDN of the latency-routed record."
  value       = try(aws_route53_record.this.fqdn, null)
}

output "failover_record_fqdn" {
  description = "FQDN of the failover-routed record, or null without one."
  value       = try(aws_route53_record.failover[0].fqdn, null)
}
