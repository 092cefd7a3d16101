# ECS Fargate: the ingress service behind the ALB, the processor service (one task per
# partition at most), the migrate task run before each rollout. Roles, logs and secrets
# are defined here; nothing is shared with other workloads.

data "aws_region" "current" {}

resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "orderflow tasks: HTTP from the ALB; out to MSK, RDS, Redis and AWS APIs"
  vpc_id      = var.vpc_id

  egress {
    description = "TLS to AWS APIs through the VPC endpoints and NAT"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "Kafka, PostgreSQL and Redis inside the VPC"
    from_port   = 5432
    to_port     = 9096
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
}

resource "aws_security_group_rule" "ingress_from_alb" {
  type                     = "ingress"
  description              = "HTTP API from the load balancer"
  security_group_id        = aws_security_group.tasks.id
  source_security_group_id = var.alb_security_group_id
  from_port                = 3000
  to_port                  = 3000
  protocol                 = "tcp"
}

resource "aws_ecs_cluster" "this" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "app" {
  for_each          = toset(["ingress", "processor", "migrate"])
  name              = "/${var.name}/${each.key}"
  retention_in_days = 365
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# Execution role: pull the image, write logs, read the secrets injected at start.
resource "aws_iam_role" "execution" {
  name               = "${var.name}-task-execution"
  assume_role_policy = data.aws_iam_policy_document.tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [var.repository_arn]
  }
  statement {
    sid       = "EcrToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # the action supports no resource-level permissions
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for g in aws_cloudwatch_log_group.app : "${g.arn}:*"]
  }
  statement {
    sid       = "Secrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(var.secret_arns)
  }
  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-log-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# Task role: orderflow itself calls no AWS API (it speaks Kafka, PostgreSQL and Redis
# protocols with the injected credentials), so it gets an empty role.
resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.tasks_assume.json
}

locals {
  environment = [
    { name = "ORDERFLOW_KAFKA_BROKERS", value = var.kafka_bootstrap_brokers },
    { name = "ORDERFLOW_KAFKA_CONFIG", value = "security.protocol=SASL_SSL,sasl.mechanism=SCRAM-SHA-512,sasl.username=orderflow" },
    { name = "ORDERFLOW_DATABASE_URL", value = "postgres://orderflow@${var.database_endpoint}/orderflow?sslmode=require" },
    { name = "ORDERFLOW_REDIS_URL", value = "rediss://${var.redis_endpoint}:6379" },
    { name = "ORDERFLOW_LOG_FORMAT", value = "json" },
    { name = "ORDERFLOW_HTTP_ADDR", value = "0.0.0.0:3000" },
    { name = "ORDERFLOW_METRICS_ADDR", value = "0.0.0.0:9464" },
  ]
  secrets = [
    { name = "ORDERFLOW_DATABASE_PASSWORD", valueFrom = "${var.secret_arns.database}:password::" },
    { name = "ORDERFLOW_REDIS_PASSWORD", valueFrom = var.secret_arns.redis },
    { name = "ORDERFLOW_KAFKA_SASL_PASSWORD", valueFrom = "${var.secret_arns.kafka}:password::" },
  ]
  container = {
    for role in ["ingress", "processor", "migrate"] : role => {
      name                   = "orderflow"
      image                  = var.image
      command                = [role]
      essential              = true
      readonlyRootFilesystem = true
      user                   = "10001:10001"
      environment            = local.environment
      secrets                = local.secrets
      portMappings           = role == "ingress" ? [{ containerPort = 3000, protocol = "tcp" }] : []
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.app[role].name
          awslogs-region        = data.aws_region.current.name
          awslogs-stream-prefix = role
        }
      }
      # SIGTERM drains the in-flight batch within 20 s; give it 30.
      stopTimeout = 30
    }
  }
}

resource "aws_ecs_task_definition" "this" {
  for_each                 = local.container
  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.key == "migrate" ? 256 : var.task_cpu
  memory                   = each.key == "migrate" ? 512 : var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode([each.value])
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
}

resource "aws_ecs_service" "ingress" {
  name            = "ingress"
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.this["ingress"].arn
  desired_count   = var.ingress_min_count
  launch_type     = "FARGATE"
  propagate_tags  = "SERVICE"

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = var.target_group_arn
    container_name   = "orderflow"
    container_port   = 3000
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    ignore_changes = [desired_count] # owned by autoscaling
  }
}

resource "aws_ecs_service" "processor" {
  name            = "processor"
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.this["processor"].arn
  desired_count   = var.processor_min_count
  launch_type     = "FARGATE"
  propagate_tags  = "SERVICE"

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    ignore_changes = [desired_count]
  }
}

# Ingress scales on CPU; the processor on consumer lag, never beyond the partition count
# (a task without a partition does nothing).
resource "aws_appautoscaling_target" "ingress" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.ingress.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.ingress_min_count
  max_capacity       = var.ingress_max_count
}

resource "aws_appautoscaling_policy" "ingress_cpu" {
  name               = "${var.name}-ingress-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.ingress.service_namespace
  resource_id        = aws_appautoscaling_target.ingress.resource_id
  scalable_dimension = aws_appautoscaling_target.ingress.scalable_dimension
  target_tracking_scaling_policy_configuration {
    target_value = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_target" "processor" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.processor.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.processor_min_count
  max_capacity       = var.partitions
}

resource "aws_appautoscaling_policy" "processor_lag" {
  name               = "${var.name}-processor-lag"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.processor.service_namespace
  resource_id        = aws_appautoscaling_target.processor.resource_id
  scalable_dimension = aws_appautoscaling_target.processor.scalable_dimension
  target_tracking_scaling_policy_configuration {
    target_value       = var.processor_lag_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    customized_metric_specification {
      namespace   = "AWS/Kafka"
      metric_name = "SumOffsetLag"
      statistic   = "Average"
      dimensions {
        name  = "Cluster Name"
        value = var.kafka_cluster_name
      }
      dimensions {
        name  = "Consumer Group"
        value = "orderflow-processor"
      }
      dimensions {
        name  = "Topic"
        value = "orders.commands"
      }
    }
  }
}
