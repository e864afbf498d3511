output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = try(aws_eks_cluster.this.name, null)
}

output "cluster_arn" {
  description = "ARN of the EKS cluster."
  value       = try(aws_eks_cluster.this.arn, null)
}

output "cluster_endpoint" {
  description = "HTTPS endpoint of the Kubernetes API."
  value       = try(aws_eks_cluster.this.endpoint, null)
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the Kubernetes API."
  value       = try(aws_eks_cluster.this.certificate_authority[0].data, null)
}

output "cluster_security_group_id" {
  description = "Security group EKS attaches to the control plane and managed nodes; RDS and Redis admit traffic from it."
  value       = try(aws_eks_cluster.this.vpc_config[0].cluster_security_group_id, null)
}

output "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider, for IRSA trust policies."
  value       = try(aws_iam_openid_connect_provider.this.arn, null)
}

output "oidc_issuer_url" {
  description = "OIDC issuer URL of the cluster."
  value       = try(aws_eks_cluster.this.identity[0].oidc[0].issuer, null)
}

output "node_role_arn" {
  description = "IAM role of the managed nodes."
  value       = try(aws_iam_role.node.arn, null)
}

output "node_group_names" {
  description = "Names of the managed node groups by key."
  value       = try({ for k, g in aws_eks_node_group.this : k => g.node_group_name }, {})
}
