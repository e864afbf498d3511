# Prod primary region: the writable PostgreSQL lives here. Its cross-region read replica and the bucket
# replication go to the secondary region (../eu-west-1), whose outputs arrive in `secondary`.
include "root" {
  path = find_in_parent_folders("terragrunt.hcl")
}

terraform {
  source = "${get_parent_terragrunt_dir()}//stacks/platform"
}

# The secondary region is built first; this stack puts the database replica and bucket replicas into it.
dependency "secondary" {
  config_path = "../eu-west-1"

  # Lets `terragrunt plan` run on a pull request before the secondary exists; never used by apply.
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
  mock_outputs = {
    data_kms_key_arn      = "arn:aws:kms:eu-west-1:000000000000:key/00000000-0000-0000-0000-000000000000"
    db_subnet_group_name  = "mock-db-subnet-group"
    rds_security_group_id = "sg-00000000000000000"
    artifacts_bucket_arn  = "arn:aws:s3:::mock-artifacts"
    dvc_bucket_arn        = "arn:aws:s3:::mock-dvc"
  }
}

inputs = {
  region      = "us-east-1"
  region_role = "primary"
  vpc_cidr    = "10.40.0.0/16"
  secondary = {
    region                = "eu-west-1" # the region of ../eu-west-1; known before it is applied
    data_kms_key_arn      = dependency.secondary.outputs.data_kms_key_arn
    db_subnet_group_name  = dependency.secondary.outputs.db_subnet_group_name
    rds_security_group_id = dependency.secondary.outputs.rds_security_group_id
    artifacts_bucket_arn  = dependency.secondary.outputs.artifacts_bucket_arn
    dvc_bucket_arn        = dependency.secondary.outputs.dvc_bucket_arn
  }
  # Set after the first `kubectl apply -k kustomize/overlays/prod/us-east-1` creates the ALB:
  # gateway_load_balancer = { dns_name = "k8s-aiprime-gateway-....us-east-1.elb.amazonaws.com", zone_id = "Z35SXDOTRQ7X7K" }
}
