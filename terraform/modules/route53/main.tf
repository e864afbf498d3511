# Route 53 cannot mix latency and failover routing on one name, so there are two names:
# - `record_name` (latency): inference reads, served by every healthy region, nearest first. A region whose
#   health check fails drops out of the answers: that is the read failover.
# - `failover.record_name` (failover): writes and operator UIs, which need the region with the writable
#   PostgreSQL. The runbook flips PRIMARY/SECONDARY after promoting the replica.
# https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-policy.html

resource "aws_route53_health_check" "this" {
  fqdn              = var.load_balancer.dns_name
  type              = "HTTPS"
  port              = 443
  resource_path     = var.health_check_path
  request_interval  = 10
  failure_threshold = 3
  measure_latency   = true
  tags              = merge(var.tags, { Name = "${var.record_name}-${var.region}" })
}

resource "aws_route53_record" "this" {
  zone_id         = var.zone_id
  name            = var.record_name
  type            = "A"
  set_identifier  = var.region
  health_check_id = aws_route53_health_check.this.id

  latency_routing_policy {
    region = var.region
  }

  alias {
    name                   = var.load_balancer.dns_name
    zone_id                = var.load_balancer.zone_id
    evaluate_target_health = true
  }
}

resource "aws_route53_record" "failover" {
  count = var.failover == null ? 0 : 1

  zone_id         = var.zone_id
  name            = var.failover.record_name
  type            = "A"
  set_identifier  = "${var.region}-${lower(var.failover.role)}"
  health_check_id = aws_route53_health_check.this.id

  failover_routing_policy {
    type = var.failover.role
  }

  alias {
    name                   = var.load_balancer.dns_name
    zone_id                = var.load_balancer.zone_id
    evaluate_target_health = true
  }
}
