# Prod primary region: the writable PostgreSQL lives here. The cross-region read replica and the bucket
# replication go to the secondary stack (../eu-west-1), whose outputs arrive in var.secondary through a
# Terragrunt dependency, so the secondary is applied first.

data "aws_caller_identity" "current" {}

locals {
  name       = "aiprime-${var.environment}-${var.region}"
  account_id = data.aws_caller_identity.current.account_id
  # EC2 Auto Scaling launches the nodes' encrypted volumes with this service-linked role.
  autoscaling_role_arn = "arn:aws:iam::${local.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"

  kms_keys = {
    data = { description = "RDS, ElastiCache, S3 and Secrets Manager of ${local.name}", logs = false, user_role_arns = [] }
    eks  = { description = "Kubernetes Secrets and node volumes of ${local.name}", logs = false, user_role_arns = [local.autoscaling_role_arn] }
    logs = { description = "CloudWatch log groups of ${local.name}", logs = true, user_role_arns = [] }
  }
}

module "kms" {
  source   = "../../../modules/kms"
  for_each = local.kms_keys

  alias                 = "${local.name}-${each.key}"
  description           = each.value.description
  allow_cloudwatch_logs = each.value.logs
  user_role_arns        = each.value.user_role_arns
}

module "vpc" {
  source = "../../../modules/vpc"

  name               = local.name
  cidr               = var.vpc_cidr
  azs                = var.azs
  public_subnets     = [for i, _ in var.azs : cidrsubnet(var.vpc_cidr, 8, i)]
  database_subnets   = [for i, _ in var.azs : cidrsubnet(var.vpc_cidr, 8, i + 4)]
  private_subnets    = [for i, _ in var.azs : cidrsubnet(var.vpc_cidr, 4, i + 1)]
  single_nat_gateway = false # one NAT per zone: a zone outage must not cut egress
  flow_logs          = { kms_key_arn = module.kms["logs"].key_arn }
}

module "eks" {
  source = "../../../modules/eks"

  name                = local.name
  vpc_id              = module.vpc.vpc_id
  subnet_ids          = module.vpc.private_subnet_ids
  public_access_cidrs = var.api_public_access_cidrs
  secrets_kms_key_arn = module.kms["eks"].key_arn
  logs_kms_key_arn    = module.kms["logs"].key_arn
  admin_role_arns     = var.admin_role_arns

  node_groups = {
    cpu = var.cpu_nodes
    gpu = merge(var.gpu_nodes, {
      ami_type = "AL2023_x86_64_NVIDIA"
      taints   = [{ key = "nvidia.com/gpu", value = "true", effect = "NO_SCHEDULE" }]
    })
  }
}

module "sg_rds" {
  source = "../../../modules/security-groups"

  name        = "${local.name}-rds"
  description = "PostgreSQL: 5432 from the EKS cluster only"
  vpc_id      = module.vpc.vpc_id
  ingress = [{
    description              = "PostgreSQL from EKS nodes and pods"
    from_port                = 5432
    source_security_group_id = module.eks.cluster_security_group_id
  }]
}

module "sg_redis" {
  source = "../../../modules/security-groups"

  name        = "${local.name}-redis"
  description = "Redis: 6379 from the EKS cluster only"
  vpc_id      = module.vpc.vpc_id
  ingress = [{
    description              = "Redis (TLS) from EKS nodes and pods"
    from_port                = 6379
    source_security_group_id = module.eks.cluster_security_group_id
  }]
}

module "rds" {
  source    = "../../../modules/rds"
  providers = { aws = aws, aws.replica = aws.secondary }

  identifier             = local.name
  instance_class         = "db.r7g.xlarge"
  allocated_storage_gib  = 200
  multi_az               = true
  backup_retention_days  = 35
  db_subnet_group_name   = module.vpc.db_subnet_group_name
  vpc_security_group_ids = [module.sg_rds.security_group_id]
  kms_key_arn            = module.kms["data"].key_arn
  logs_kms_key_arn       = module.kms["logs"].key_arn

  replica = {
    kms_key_arn            = var.secondary.data_kms_key_arn
    db_subnet_group_name   = var.secondary.db_subnet_group_name
    vpc_security_group_ids = [var.secondary.rds_security_group_id]
  }
}

module "elasticache" {
  source = "../../../modules/elasticache"

  name               = local.name
  node_type          = "cache.r7g.large"
  num_cache_clusters = 2
  subnet_group_name  = module.vpc.elasticache_subnet_group_name
  security_group_ids = [module.sg_redis.security_group_id]
  kms_key_arn        = module.kms["data"].key_arn
  logs_kms_key_arn   = module.kms["logs"].key_arn
}

module "s3_access_logs" {
  source = "../../../modules/s3"

  bucket  = "${local.name}-access-logs-${local.account_id}"
  purpose = "access-logs"
}

module "s3" {
  source   = "../../../modules/s3"
  for_each = toset(["artifacts", "dvc"])

  bucket            = "${local.name}-${each.key}-${local.account_id}"
  purpose           = each.key
  kms_key_arn       = module.kms["data"].key_arn
  access_log_bucket = module.s3_access_logs.bucket_id

  replication = {
    destination_bucket_arn  = var.secondary["${each.key}_bucket_arn"]
    destination_kms_key_arn = var.secondary.data_kms_key_arn
  }
}

module "irsa" {
  source   = "../../../modules/iam-irsa"
  for_each = local.irsa_roles

  name              = "${local.name}-${each.key}"
  oidc_provider_arn = module.eks.oidc_provider_arn
  service_accounts  = [for ns in var.namespaces : "${ns}:${each.key}"]
  policy_statements = each.value
}

module "waf" {
  source = "../../../modules/waf"

  name             = "${local.name}-gateway"
  logs_kms_key_arn = module.kms["logs"].key_arn
}

module "route53" {
  source = "../../../modules/route53"
  count  = var.gateway_load_balancer == null ? 0 : 1

  zone_id       = var.dns_zone_id
  region        = var.region
  record_name   = "api.${var.domain}"
  load_balancer = var.gateway_load_balancer
  failover      = { record_name = "ops.${var.domain}", role = var.dns_failover_role }
}
