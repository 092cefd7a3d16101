output "url" {
  description = "DNS name of the load balancer; point the API's domain at it."
  value       = module.edge.dns_name
}

output "repository_url" {
  description = "ECR repository to push the orderflow image to."
  value       = module.registry.repository_url
}

output "cluster_name" {
  description = "ECS cluster running ingress and processor."
  value       = module.ecs.cluster_name
}

output "migrate_task_definition_arn" {
  description = "Task definition that runs `orderflow migrate`, once before each rollout."
  value       = module.ecs.migrate_task_definition_arn
}

output "private_subnet_ids" {
  description = "Subnets for one-off tasks (migrate)."
  value       = module.network.private_subnet_ids
}

output "task_security_group_id" {
  description = "Security group for one-off tasks (migrate)."
  value       = module.ecs.task_security_group_id
}

output "dashboard" {
  description = "CloudWatch dashboard name."
  value       = module.monitoring.dashboard_name
}
