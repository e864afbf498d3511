# Prod secondary region. It serves inference on its own (latency-routed `api.` record) from a read replica of
# the primary's PostgreSQL, and holds the replicas of the artifact and DVC buckets. The primary stack
# (../us-east-1) creates the database replica and the bucket replication into what this stack builds, so this
# stack is applied first and depends on nothing.
include "root" {
  path = find_in_parent_folders("terragrunt.hcl")
}

terraform {
  source = "${get_parent_terragrunt_dir()}//stacks/platform"
}

inputs = {
  region            = "eu-west-1"
  region_role       = "secondary"
  vpc_cidr          = "10.41.0.0/16"
  dns_failover_role = "SECONDARY" # PRIMARY after a region failover (docs/runbook.md)
  # Set after the first `kubectl apply -k kustomize/overlays/prod/eu-west-1` creates the ALB:
  # gateway_load_balancer = { dns_name = "k8s-aiprime-gateway-....eu-west-1.elb.amazonaws.com", zone_id = "Z32O12XQLNTSW2" }
}
