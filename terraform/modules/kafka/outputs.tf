output "bootstrap_brokers" {
  description = "Bootstrap brokers for SASL/SCRAM over TLS."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_scram
}

output "cluster_arn" {
  description = "ARN of the MSK cluster (IAM policies)."
  value       = aws_msk_cluster.this.arn
}

output "cluster_name" {
  description = "Name of the MSK cluster (CloudWatch metrics)."
  value       = aws_msk_cluster.this.cluster_name
}
