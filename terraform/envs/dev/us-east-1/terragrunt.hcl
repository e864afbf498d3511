include "root" {
  path = find_in_parent_folders("terragrunt.hcl")
}

inputs = {
  region      = "us-east-1"
  dns_zone_id = "Z0000000000000000DEV" # replace with the hosted zone of dev.aiprime.example.com
  # Set after the first `kubectl apply -k kustomize/overlays/dev` creates the ALB:
  # gateway_load_balancer = { dns_name = "k8s-aiprime-gateway-....elb.amazonaws.com", zone_id = "Z35SXDOTRQ7X7K" }
}
