# Filled in by Terragrunt (terraform/terragrunt.hcl). Without Terragrunt:
#   terraform init -backend-config=bucket=aiprime-tfstate-<account> -backend-config=key=envs/prod/eu-west-1/terraform.tfstate \
#     -backend-config=region=us-east-1 -backend-config=dynamodb_table=aiprime-tfstate-lock -backend-config=encrypt=true
terraform {
  backend "s3" {}
}
