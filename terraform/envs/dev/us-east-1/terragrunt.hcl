# Dev's only region: the writable database, nothing replicated. Sizes are in ../env.hcl.
include "root" {
  path = find_in_parent_folders("terragrunt.hcl")
}

terraform {
  source = "${get_parent_terragrunt_dir()}//stacks/platform"
}

inputs = {
  region      = "us-east-1"
  region_role = "standalone"
  vpc_cidr    = "10.20.0.0/16"
  # Set after the first `kubectl apply -k kustomize/overlays/dev` creates the ALB:
  # gateway_load_balancer = { dns_name = "k8s-aiprime-gateway-....elb.amazonaws.com", zone_id = "Z35SXDOTRQ7X7K" }
}
