from django.urls import path

from analytics import views

urlpatterns = [
    path("", views.home),
    path("health/", views.health),
    path("api/quiz/answer/", views.submit_quiz_answer),
]
