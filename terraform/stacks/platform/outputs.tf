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
  description = "PostgreSQL host for `AIPRIME_DATABASE_URL`; null in a secondary region (use the primary's `rds_replica_endpoint`)."
  value       = one(module.rds[*].endpoint)
}

output "rds_master_user_secret_arn" {
  description = "Secrets Manager secret with the PostgreSQL master password; null in a secondary region."
  value       = one(module.rds[*].master_user_secret_arn)
}

output "rds_replica_arn" {
  description = "ARN of the cross-region read replica (promote it in a region failover); null outside a primary."
  value       = one(module.rds[*].replica_arn)
}

output "rds_replica_endpoint" {
  description = "PostgreSQL host of the replica, for the secondary region's read-only `AIPRIME_DATABASE_URL`; null outside a primary."
  value       = one(module.rds[*].replica_endpoint)
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

output "audit_heads_bucket" {
  description = "Object Lock bucket of the audit chain's heads: the gateway's `AIPRIME_GATEWAY_AUDIT_HEADS=s3://<this>/audit-heads/<env>`."
  value       = module.s3_audit_heads.bucket_id
}

# Read by a primary's stack (Terragrunt dependency, var.secondary) to place its replicas in this region.
output "data_kms_key_arn" {
  description = "KMS key of this region's data: the database replica and the replicated buckets."
  value       = module.kms["data"].key_arn
}

output "db_subnet_group_name" {
  description = "Subnet group for a database replica."
  value       = module.vpc.db_subnet_group_name
}

output "rds_security_group_id" {
  description = "Security group for a database replica."
  value       = module.sg_rds.security_group_id
}

output "artifacts_bucket_arn" {
  description = "Replication destination of a primary's artifacts bucket."
  value       = module.s3["artifacts"].bucket_arn
}

output "dvc_bucket_arn" {
  description = "Replication destination of a primary's DVC bucket."
  value       = module.s3["dvc"].bucket_arn
}
