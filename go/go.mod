module gotutorial.example

go 1.16
