# Alarms (consumer lag, dead letters, 5xx) to an encrypted SNS topic, and a dashboard of
# the same signals.

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_metric_alarm" "lag" {
  alarm_name          = "${var.name}-consumer-lag"
  alarm_description   = "Processors fall behind: commands wait longer than they should."
  namespace           = "AWS/Kafka"
  metric_name         = "SumOffsetLag"
  dimensions = {
    "Cluster Name"   = var.kafka_cluster_name
    "Consumer Group" = "orderflow-processor"
    "Topic"          = "orders.commands"
  }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = var.lag_alarm_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "dlq" {
  alarm_name          = "${var.name}-dead-letters"
  alarm_description   = "Undecodable commands reach orders.commands.dlq: a producer sends bad records."
  namespace           = "AWS/Kafka"
  metric_name         = "MessagesInPerSec"
  dimensions = {
    "Cluster Name" = var.kafka_cluster_name
    "Topic"        = "orders.commands.dlq"
  }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "http_5xx" {
  alarm_name          = "${var.name}-5xx"
  alarm_description   = "The ingress answers 5xx (broker, database or cache trouble)."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  dimensions = {
    LoadBalancer = var.alb_arn_suffix
  }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  threshold           = var.http_5xx_alarm_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "Consumer lag (orders.commands)"
          region  = var.region
          metrics = [["AWS/Kafka", "SumOffsetLag", "Cluster Name", var.kafka_cluster_name, "Consumer Group", "orderflow-processor", "Topic", "orders.commands"]]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title   = "Throughput: commands in, events out (records/s)"
          region  = var.region
          metrics = [
            ["AWS/Kafka", "MessagesInPerSec", "Cluster Name", var.kafka_cluster_name, "Topic", "orders.commands"],
            ["AWS/Kafka", "MessagesInPerSec", "Cluster Name", var.kafka_cluster_name, "Topic", "orders.events"],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 8, height = 6
        properties = {
          title   = "Dead letters (records/s)"
          region  = var.region
          metrics = [["AWS/Kafka", "MessagesInPerSec", "Cluster Name", var.kafka_cluster_name, "Topic", "orders.commands.dlq"]]
        }
      },
      {
        type = "metric", x = 8, y = 6, width = 8, height = 6
        properties = {
          title   = "HTTP latency p50 / p99 (s)"
          region  = var.region
          metrics = [
            ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, { stat = "p50" }],
            ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, { stat = "p99" }],
          ]
        }
      },
      {
        type = "metric", x = 16, y = 6, width = 8, height = 6
        properties = {
          title   = "HTTP 5xx"
          region  = var.region
          metrics = [["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.alb_arn_suffix, { stat = "Sum" }]]
        }
      },
    ]
  })
}
