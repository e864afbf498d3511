include "root" {
  path = find_in_parent_folders("terragrunt.hcl")
}

inputs = {
  region      = "eu-west-1"
  dns_zone_id = "Z0000000000000000PRD" # replace with the hosted zone of aiprime.example.com
  # Set after the first `kubectl apply -k kustomize/overlays/prod/eu-west-1` creates the ALB:
  # gateway_load_balancer = { dns_name = "k8s-aiprime-gateway-....eu-west-1.elb.amazonaws.com", zone_id = "Z32O12XQLNTSW2" }
}
