output "primary_endpoint" {
  description = "Primary endpoint of the replication group."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "replication_group_id" {
  description = "Replication group id (CloudWatch metrics)."
  value       = aws_elasticache_replication_group.this.id
}
