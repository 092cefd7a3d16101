output "repository_url" {
  description = "Repository URL (push/pull)."
  value       = aws_ecr_repository.this.repository_url
}

output "repository_arn" {
  description = "Repository ARN (IAM)."
  value       = aws_ecr_repository.this.arn
}
