// One value set per code system, with all its codes; bindings point at these.

RuleSet: OncoLinkValueSet
* ^status = #active
* ^experimental = false
* ^language = #fr-FR

ValueSet: OncoLinkParcoursVS
Id: oncolink-parcours
Title: "Parcours Onco'Link"
Description: "Parcours A ou B."
* insert OncoLinkValueSet
* include codes from system $parcours-cs

ValueSet: OncoLinkSequenceVS
Id: oncolink-sequence
Title: "Séquences d'un épisode"
Description: "Séquences 1, 2 et 3."
* insert OncoLinkValueSet
* include codes from system $sequence-cs

ValueSet: OncoLinkAlertColourVS
Id: oncolink-alert-colour
Title: "Couleurs d'alerte"
Description: "Vert, orange, rouge."
* insert OncoLinkValueSet
* include codes from system $colour-cs

ValueSet: OncoLinkAlertTypeVS
Id: oncolink-alert-type
Title: "Types d'alerte"
Description: "Tous les motifs d'alerte Onco'Link."
* insert OncoLinkValueSet
* include codes from system $alert-type-cs

ValueSet: OncoLinkActorShareVS
Id: oncolink-actor-share
Title: "Bénéficiaires des forfaits"
Description: "Acteurs qui reçoivent une part de forfait."
* insert OncoLinkValueSet
* include codes from system $share-cs

ValueSet: OncoLinkForfaitVS
Id: oncolink-forfait
Title: "Forfaits Onco'Link"
Description: "Forfait de séquence et forfait de télésurveillance."
* insert OncoLinkValueSet
* include codes from system $forfait-cs

ValueSet: OncoLinkGradeVS
Id: oncolink-grade
Title: "Intensité d'un symptôme"
Description: "Niveaux 0 à 4."
* insert OncoLinkValueSet
* include codes from system $grade-cs

ValueSet: OncoLinkMissedDosesVS
Id: oncolink-missed-doses
Title: "Prises oubliées"
Description: "Classes du nombre de prises oubliées."
* insert OncoLinkValueSet
* include codes from system $missed-cs

ValueSet: OncoLinkCarePlanCategoryVS
Id: oncolink-careplan-category
Title: "Catégories de plan de soins Onco'Link"
Description: "Épisode ou séquence."
* insert OncoLinkValueSet
* include codes from system $careplan-cat-cs

ValueSet: OncoLinkCareTeamRoleVS
Id: oncolink-care-team-role
Title: "Rôles dans l'équipe de soins"
Description: "Rôles des membres de l'équipe d'un épisode."
* insert OncoLinkValueSet
* include codes from system $team-role-cs

ValueSet: OncoLinkTaskTypeVS
Id: oncolink-task-type
Title: "Types de tâche"
Description: "Tâches de la liste de travail infirmière."
* insert OncoLinkValueSet
* include codes from system $task-type-cs

ValueSet: OncoLinkMessageCategoryVS
Id: oncolink-message-category
Title: "Catégories de message"
Description: "Messages au patient et messages de coordination."
* insert OncoLinkValueSet
* include codes from system $message-cat-cs

ValueSet: OncoLinkIdentityStatusVS
Id: oncolink-identity-status
Title: "Statuts de l'identité"
Description: "Provisoire, récupérée, validée, qualifiée."
* insert OncoLinkValueSet
* include codes from system $identity-cs
