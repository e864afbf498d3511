output "cluster_name" {
  description = "EKS cluster name (`aws eks update-kubeconfig --name <this>`)."
  value       = module.eks.cluster_name
}

output "irsa_role_arns" {
  description = "IRSA role per service account; copy into the overlay's patch-serviceaccounts-irsa.yaml."
  value       = { for k, m in module.irsa : k => m.role_arn }
}

output "waf_web_acl_arn" {
  description = "Web ACL for the gateway Ingress annotation `alb.ingress.kubernetes.io/wafv2-acl-arn`."
  value       = module.waf.web_acl_arn
}

output "rds_endpoint" {
  description = "PostgreSQL host for `AIPRIME_DATABASE_URL`."
  value       = module.rds.endpoint
}

output "rds_master_user_secret_arn" {
  description = "Secrets Manager secret with the PostgreSQL master password."
  value       = module.rds.master_user_secret_arn
}

output "redis_endpoint" {
  description = "Redis primary endpoint (TLS)."
  value       = module.elasticache.primary_endpoint
}

output "redis_auth_token_secret_arn" {
  description = "Secrets Manager secret with the Redis AUTH token."
  value       = module.elasticache.auth_token_secret_arn
}

output "artifacts_bucket" {
  description = "MLflow artifact bucket (`mlflow server --artifacts-destination s3://<this>`)."
  value       = module.s3["artifacts"].bucket_id
}

output "dvc_bucket" {
  description = "DVC remote bucket (`dvc remote add -d s3 s3://<this>`)."
  value       = module.s3["dvc"].bucket_id
}
