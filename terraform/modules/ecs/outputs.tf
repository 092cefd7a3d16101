output "cluster_name" {
  description = "ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "task_security_group_id" {
  description = "Security group of the orderflow tasks (clients of MSK, RDS and Redis)."
  value       = aws_security_group.tasks.id
}

output "migrate_task_definition_arn" {
  description = "Task definition to run `orderflow migrate` once before a rollout."
  value       = aws_ecs_task_definition.this["migrate"].arn
}

output "service_names" {
  description = "ECS services."
  value       = [aws_ecs_service.ingress.name, aws_ecs_service.processor.name]
}
