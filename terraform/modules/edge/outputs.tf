output "dns_name" {
  description = "DNS name of the load balancer (point your domain here)."
  value       = aws_lb.this.dns_name
}

output "security_group_id" {
  description = "Security group of the load balancer."
  value       = aws_security_group.alb.id
}

output "target_group_arn" {
  description = "Target group of the ingress service."
  value       = aws_lb_target_group.ingress.arn
}

output "arn_suffix" {
  description = "ARN suffix of the load balancer (CloudWatch metrics)."
  value       = aws_lb.this.arn_suffix
}
