output "vpc_id" {
  description = "ID of the VPC."
  value       = try(aws_vpc.this.id, null)
}

output "vpc_cidr" {
  description = "CIDR block of the VPC; NetworkPolicies and security groups use it to admit the load balancer."
  value       = try(aws_vpc.this.cidr_block, null)
}

output "public_subnet_ids" {
  description = "IDs of the public subnets, in `azs` order."
  value       = try(aws_subnet.public[*].id, [])
}

output "private_subnet_ids" {
  description = "IDs of the private subnets (EKS nodes), in `azs` order."
  value       = try(aws_subnet.private[*].id, [])
}

output "database_subnet_ids" {
  description = "IDs of the isolated database subnets, in `azs` order."
  value       = try(aws_subnet.database[*].id, [])
}

output "db_subnet_group_name" {
  description = "RDS subnet group over the database subnets."
  value       = try(aws_db_subnet_group.this.name, null)
}

output "elasticache_subnet_group_name" {
  description = "ElastiCache subnet group over the database subnets."
  value       = try(aws_elasticache_subnet_group.this.name, null)
}

output "nat_public_ips" {
  description = "Public IPs of the NAT gateways: the addresses outside services see our egress come from."
  value       = try(aws_eip.nat[*].public_ip, [])
}
